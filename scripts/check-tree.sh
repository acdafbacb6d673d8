#!/bin/sh
# Checks that the modules of a tool import each other in a tree, not a
# circle.  Module X is X.h with the .c files that implement it (X.c, and
# any .c that includes "X-int.h", the module's private header).  Two
# rules, each a failure with a message:
#   - every function X.h declares is defined by module X's own .c files
#     (no header that several modules implement, which hides a circle);
#   - X depends on Y when one of X's files includes "Y.h"; no circle.
# Usage: scripts/check-tree.sh DIR; exit 0 when both hold, 1 when not.
set -eu
dir=${1:?usage: check-tree.sh DIR}
python3 - "$dir" <<'PY'
import os, re, sys
d = sys.argv[1]
files = sorted(f for f in os.listdir(d) if f.endswith(('.c', '.h')))
text = {f: open(os.path.join(d, f)).read() for f in files}
incs = {f: re.findall(r'^#include "([^"/]+)\.h"', text[f], re.M) for f in files}

def module(f):
    name = f[:-2]
    if f.endswith('.c'):
        for i in incs[f]:
            if i.endswith('-int'):
                return i[:-4]
    return name[:-4] if name.endswith('-int') else name

mods = {module(f) for f in files}
bad = 0
defined = {}
for f in files:
    if f.endswith('.c'):
        for fn in re.findall(r'^([a-z_][a-z0-9_]*)\(', text[f], re.M):
            defined.setdefault(fn, set()).add(module(f))
for f in files:
    if not f.endswith('.h'):
        continue
    body = re.sub(r'/\*.*?\*/', '', text[f], flags=re.S)
    body = re.sub(r'^static inline[^{]*\{.*?^\}', '', body, flags=re.S | re.M)
    for fn in re.findall(r'^[a-z][^;(#]*?\b([a-z_][a-z0-9_]*)\(', body, re.M):
        where = defined.get(fn, set())
        if where and module(f) not in where:
            print("check-tree: %s/%s declares %s(), which module %s defines"
                  % (d, f, fn, ", ".join(sorted(where))))
            bad = 1
deps = {m: set() for m in mods}
for f in files:
    for i in incs[f]:
        t = i[:-4] if i.endswith('-int') else i
        if t in mods and t != module(f):
            deps[module(f)].add(t)
state = {}
def visit(m, path):
    global bad
    if state.get(m) == 1:
        print("check-tree: %s: a circle: %s"
              % (d, " -> ".join(path[path.index(m):] + [m])))
        bad = 1
        return
    if state.get(m) == 2:
        return
    state[m] = 1
    for n in sorted(deps[m]):
        visit(n, path + [m])
    state[m] = 2
for m in sorted(mods):
    visit(m, [])
if bad:
    sys.exit(1)
print("check-tree: %s: %d modules, a tree" % (d, len(mods)))
PY

/* avm-run --cluster FILE --node I; see cluster.c. */
#ifndef AVM_RUN_CLUSTER_H
#define AVM_RUN_CLUSTER_H

#include "vm.h"

/* Fills o for node `node` of the VM in cluster file `file`.  Prints what
 * is wrong (log_err) and returns an exit status: 0, 64, 66, 69, 77 or 78. */
int cluster_opts(const char *file, unsigned node, struct vm_opts *o);

#endif

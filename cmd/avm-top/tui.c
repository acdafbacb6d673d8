/*
 * The screen: ncurses, redrawn in place (erase and refresh send only
 * what changed, so nothing flickers), a new frame every delay, keys read
 * in between.  A resized window is drawn again at its new size.
 */
#include <curses.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avm/exit.h"
#include "avm/util.h"
#include "top.h"

static const char *const help_lines[] = {
	"avm-top: keys",
	"",
	"  q        quit",
	"  h or ?   this help (any key returns)",
	"  d        set the delay between frames, in seconds",
	"  1        show or hide the per-vCPU rows",
	"  n        show one node only (empty: every node)",
	"  < >      sort by the column to the left / right",
	"           (the vCPU table when it is shown, else the nodes)",
	"  s        reverse the sort order",
	"  p        pause the screen (the VM goes on; p again resumes)",
	"",
	"Columns are explained in avm-top(1).",
};

struct screen {
	int row;
};

static void
put_screen(void *ctx, const char *line)
{
	struct screen *s = ctx;

	if (s->row >= LINES - 1)
		return;
	mvaddnstr(s->row, 0, line, COLS);
	s->row++;
}

/* Reads a line at the bottom after prompt; 0, or -1 on Escape. */
static int
prompt(const char *p, char *buf, size_t len)
{
	size_t n = 0;
	int c;

	timeout(-1);
	echo();
	curs_set(1);
	move(LINES - 1, 0);
	clrtoeol();
	attron(A_BOLD);
	addnstr(p, COLS);
	attroff(A_BOLD);
	refresh();
	buf[0] = 0;
	while ((c = getch()) != '\n' && c != '\r' && c != KEY_ENTER) {
		if (c == 27) {
			n = 0;
			break;
		}
		if ((c == KEY_BACKSPACE || c == 127 || c == 8) && n) {
			buf[--n] = 0;
			continue;
		}
		if (c >= 32 && c < 127 && n + 1 < len) {
			buf[n++] = (char)c;
			buf[n] = 0;
		}
	}
	noecho();
	curs_set(0);
	if (c == 27)
		return -1;
	return 0;
}

static void
draw(const struct frame *f, const struct top_opts *o, int paused,
     const char *note)
{
	struct screen s = { 0 };

	erase();
	text_frame(f, &o->view, paused, put_screen, &s);
	move(LINES - 1, 0);
	attron(A_REVERSE);
	addnstr(note && *note ? note
			      : "h help  q quit  1 vCPUs  n node  d delay  "
				"< > s sort  p pause",
		COLS);
	attroff(A_REVERSE);
	refresh();
}

static void
show_help(void)
{
	erase();
	for (size_t i = 0;
	     i < sizeof(help_lines) / sizeof(help_lines[0]) && (int)i < LINES;
	     i++)
		mvaddnstr((int)i, 0, help_lines[i], COLS);
	refresh();
	timeout(-1);
	getch();
}

static int
ncols(const struct top_opts *o)
{
	return (int)(o->view.show_vcpus ? vcpu_ncols : node_ncols);
}

/* The frame of the two newest samples, in the view as it is now. */
static int
rebuild(struct frame *f, const struct top_opts *o, const struct sample *newer,
	int ended)
{
	struct frame g;

	if (frame_build(&g, o->vm, newer, &o->view) < 0)
		return -1;
	if (ended)
		g.state = "ended";
	frame_free(f);
	*f = g;
	return 0;
}

int
tui_run(struct top_opts *o)
{
	/* newer makes the frame on show (its base inside it); spare takes
	 * the next sample. */
	struct sample *newer = calloc(1, sizeof(*newer)),
		      *spare = calloc(1, sizeof(*spare)), *t;
	struct frame f = { 0 };
	char why[400] = "", note[160] = "", buf[32];
	int paused = 0, ended = 0, status = AVM_EX_OK, rc;
	uint64_t next;
	long shown = 0;

	if (!newer || !spare) {
		free(newer);
		free(spare);
		return AVM_EX_SOFTWARE;
	}
	rc = sample_read(o->vm, newer, why, sizeof(why));
	if (rc < 0) {
		status = rc == -EPROTO ? AVM_EX_DATAERR : AVM_EX_NOINPUT;
		goto done;
	}
	if (rebuild(&f, o, newer, 0) < 0) {
		status = AVM_EX_SOFTWARE;
		goto done;
	}
	if (!initscr()) {
		status = AVM_EX_OSERR;
		goto done;
	}
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	next = now_ns() + (uint64_t)(o->delay * 1e9);
	for (;;) {
		int c, wait_ms;

		if (!paused && !ended && now_ns() >= next) {
			rc = sample_read(o->vm, spare, why, sizeof(why));
			if (rc == -EPROTO) {
				status = AVM_EX_DATAERR;
				break;
			}
			if (rc < 0) {
				/* Keep the last numbers, say it ended. */
				ended = 1;
				f.state = "ended";
				snprintf(note, sizeof(note),
					 "VM %s ended.  q quits", o->vm);
			} else if (sample_carry(spare, newer) < 0) {
				status = AVM_EX_SOFTWARE;
				break;
			} else {
				sample_free(newer);
				t = newer;
				newer = spare;
				spare = t;
				shown++;
				if (rebuild(&f, o, newer, 0) < 0) {
					status = AVM_EX_SOFTWARE;
					break;
				}
			}
			next = now_ns() + (uint64_t)(o->delay * 1e9);
		}
		draw(&f, o, paused, note);
		if (o->frames && shown >= o->frames)
			break;
		wait_ms = paused || ended
				  ? -1
				  : (int)((next > now_ns() ? next - now_ns()
							   : 0) /
						  1000000 +
					  1);
		timeout(wait_ms);
		c = getch();
		if (c == ERR || c == KEY_RESIZE)
			continue;
		if (!ended)
			note[0] = 0;
		switch (c) {
		case 'q':
		case 'Q':
			goto out;
		case 'h':
		case '?':
			show_help();
			break;
		case 'p':
			paused = !paused;
			next = now_ns();
			break;
		case '1':
			o->view.show_vcpus = !o->view.show_vcpus;
			o->view.sort_col = 0;
			break;
		case '<':
			if (o->view.sort_col > 0)
				o->view.sort_col--;
			break;
		case '>':
			if (o->view.sort_col + 1 < ncols(o))
				o->view.sort_col++;
			break;
		case 's':
			o->view.sort_asc = !o->view.sort_asc;
			break;
		case 'n':
			if (prompt("show node (empty: every node): ", buf,
				   sizeof(buf)) < 0)
				break;
			if (!buf[0]) {
				o->view.node_filter = -1;
			} else {
				uint64_t v;

				if (uint_parse(buf, 0, TOP_NODES_MAX - 1, &v) <
				    0)
					snprintf(note, sizeof(note),
						 "not a node number: '%s'",
						 buf);
				else
					o->view.node_filter = (int)v;
			}
			break;
		case 'd':
			if (prompt("delay in seconds: ", buf, sizeof(buf)) <
				    0 ||
			    !buf[0])
				break;
			{
				char *end;
				double d = strtod(buf, &end);

				if (*end || !(d >= 0.1 && d <= 3600)) {
					snprintf(note, sizeof(note),
						 "delay '%s': 0.1 to 3600 "
						 "seconds",
						 buf);
				} else {
					o->delay = d;
					next = now_ns() +
					       (uint64_t)(o->delay * 1e9);
				}
			}
			break;
		default:
			snprintf(note, sizeof(note),
				 "unknown key; h shows the keys");
			break;
		}
		/* Sorting and filtering show at once, on the same numbers. */
		if (rebuild(&f, o, newer, ended) < 0) {
			status = AVM_EX_SOFTWARE;
			break;
		}
	}
out:
	endwin();
done:
	frame_free(&f);
	sample_free(newer);
	sample_free(spare);
	free(newer);
	free(spare);
	if (status == AVM_EX_DATAERR)
		fprintf(stderr, "%s: %s\n", PROG, why);
	else if (status == AVM_EX_NOINPUT)
		fprintf(stderr, "%s: no VM '%s' runs on this host\n", PROG,
			o->vm);
	return status;
}

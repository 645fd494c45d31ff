/* SPDX-License-Identifier: MIT */
/* The small API a traced program may call: named markers (phases, operations)
 * and pausing the recording.  Every function is declared weak, and the
 * ha_ wrappers below call it only when libhotalloc.so is loaded: a program
 * that uses them compiles, links and runs unchanged without the tracer.
 *
 *     #include <hotalloc.h>
 *     ha_mark("steady");            // the analyzer's --from/--to/--per use it
 *     for (...) { ha_mark("op"); do_one_operation(); }
 */
#ifndef HOTALLOC_H
#define HOTALLOC_H

#ifdef __cplusplus
extern "C" {
#endif

/* Records a marker named name (at most 200 bytes are kept) at this moment, on
 * this thread.  Async-signal-safe; never allocates. */
void hotalloc_mark(const char *name) __attribute__((weak));
/* Stops recording allocations, process-wide, until hotalloc_resume.  Frees
 * are still recorded, so blocks from before the pause are not seen as leaks.
 * Calls nest: recording resumes when every pause has its resume. */
void hotalloc_pause(void) __attribute__((weak));
void hotalloc_resume(void) __attribute__((weak));

static inline void ha_mark(const char *name)
{
	if (hotalloc_mark)
		hotalloc_mark(name);
}

static inline void ha_pause(void)
{
	if (hotalloc_pause)
		hotalloc_pause();
}

static inline void ha_resume(void)
{
	if (hotalloc_resume)
		hotalloc_resume();
}

#ifdef __cplusplus
}
#endif

#endif

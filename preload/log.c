/* SPDX-License-Identifier: MIT */
/* Messages from the preloaded library: formatted into a stack buffer and
 * written with write(2), so they are safe anywhere (no stdio, no malloc). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

static char *put_str(char *p, char *end, const char *s)
{
	while (*s && p < end)
		*p++ = *s++;
	return p;
}

static char *put_uint(char *p, char *end, unsigned long long v, unsigned base)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n > 0 && p < end)
		*p++ = tmp[--n];
	return p;
}

static size_t vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
	char *p = buf, *end = buf + size - 1;

	while (*fmt && p < end) {
		if (*fmt != '%') {
			*p++ = *fmt++;
			continue;
		}
		fmt++;
		int longs = 0, sized = 0;
		while (*fmt == 'l') {
			longs++;
			fmt++;
		}
		if (*fmt == 'z') {
			sized = 1;
			fmt++;
		}
		switch (*fmt) {
		case 's':
			p = put_str(p, end, va_arg(ap, const char *));
			break;
		case 'd': {
			long long v = longs ? va_arg(ap, long) : va_arg(ap, int);
			if (v < 0 && p < end) {
				*p++ = '-';
				v = -v;
			}
			p = put_uint(p, end, (unsigned long long)v, 10);
			break;
		}
		case 'u':
		case 'x': {
			unsigned long long v;
			if (sized)
				v = va_arg(ap, size_t);
			else if (longs == 2)
				v = va_arg(ap, unsigned long long);
			else if (longs == 1)
				v = va_arg(ap, unsigned long);
			else
				v = va_arg(ap, unsigned);
			p = put_uint(p, end, v, *fmt == 'x' ? 16 : 10);
			break;
		}
		case '%':
			*p++ = '%';
			break;
		default:
			break;
		}
		if (*fmt)
			fmt++;
	}
	*p = 0;
	return (size_t)(p - buf);
}

size_t ha__format(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = vformat(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

void ha__log(const char *level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	size_t n;

	n = ha__format(buf, sizeof(buf), "hotalloc: %s: ", level);
	va_start(ap, fmt);
	n += vformat(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	buf[n++] = '\n';
	ssize_t ignored = write(2, buf, n);
	(void)ignored;
}

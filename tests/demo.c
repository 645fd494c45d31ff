/* SPDX-License-Identifier: MIT */
/* The program `make demo` traces: 50000 allocations from three call sites,
 * 49999 of them freed, and one 4096-byte block leaked on purpose. */
#include <stdlib.h>
#include <string.h>

/* Keeps the compiler from eliding a malloc/free pair. */
char *volatile ha_demo_sink;

__attribute__((noinline)) static char *make_name(int i)
{
	char *s = malloc(32);

	memset(s, 'a' + i % 26, 31);
	s[31] = 0;
	ha_demo_sink = s;
	return s;
}

__attribute__((noinline)) static int *grow(int *v, int n)
{
	return realloc(v, (size_t)n * sizeof(int));
}

int main(void)
{
	int *v = NULL;
	long sum = 0;

	for (int i = 0; i < 25000; i++) {
		char *s = make_name(i);
		sum += s[0];
		free(s);
	}
	for (int i = 1; i <= 24999; i++) {
		v = grow(v, i);
		v[i - 1] = i;
	}
	free(v);
	char *leak = calloc(1, 4096);
	leak[0] = (char)sum;
	return leak[1];
}

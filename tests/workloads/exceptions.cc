// SPDX-License-Identifier: MIT
// exceptions: a C++ program that throws and catches in a loop and uses new/delete, to
// check that allocations made by the C++ runtime (operator new, exception objects) are
// seen and counted right.
//
// Usage: exceptions [iterations N=10000]
//
// Each iteration, on x86-64 with GCC 12's libstdc++:
//   new Blob (48 bytes)                                       malloc(48)
//   new int[10]                                               malloc(40)
//   throw Error (32 bytes), caught by reference               malloc(32 + 128), free
//   operator new(SIZE_MAX / 2) fails and throws bad_alloc     malloc fails, then
//                                                             malloc(8 + 128), free
//   delete[] the ints, delete the Blob                        free, free
// (__cxa_allocate_exception mallocs the object plus a 128-byte header and
// __cxa_free_exception frees it.)  libstdc++ mallocs its emergency exception pool at
// start-up, so compare against "exceptions 0"; the difference is
//   calls.malloc = 5*N;  allocations = 4*N;  calls.free = frees = 4*N
//   bytes_allocated = 384*N;  leaked_blocks = leaked_bytes = 0
// and peak_bytes rises by 48 + 40 + 160 = 248 when N > 0 (the Blob, the ints and the
// Error object are live together; the bad_alloc object comes after the Error one is
// freed).  No iostream and no stdio, so nothing else is allocated.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "workload.h"

namespace {

struct Blob {
	char bytes[48];
};

struct Error {
	long code;
	long detail[3];
};

static_assert(sizeof(Blob) == 48, "Blob must be 48 bytes");
static_assert(sizeof(Error) == 32, "Error must be 32 bytes");

[[noreturn]] __attribute__((noinline)) void fail_with(long code)
{
	throw Error{code, {code + 1, code + 2, code + 3}};
}

long one_iteration(long i)
{
	Blob *blob = static_cast<Blob *>(wl_sink(new Blob()));
	int *ints = static_cast<int *>(wl_sink(new int[10]()));
	long sum = 0;

	blob->bytes[0] = static_cast<char>(i);
	ints[9] = static_cast<int>(i);
	try {
		fail_with(i);
	} catch (const Error &e) {
		sum += e.code + e.detail[2];
	}
	try {
		void *huge = ::operator new(wl_opaque(SIZE_MAX / 2));
		::operator delete(wl_sink(huge));
		sum = -1;
	} catch (const std::bad_alloc &) {
		sum += 1;
	}
	sum += blob->bytes[0] == static_cast<char>(i);
	sum += ints[9] == static_cast<int>(i);
	delete[] static_cast<int *>(wl_sink(ints));
	delete static_cast<Blob *>(wl_sink(blob));
	return sum;
}

}  // namespace

int main(int argc, char **argv)
{
	uint64_t n = wl_arg(argc, argv, 1, 10000);

	for (uint64_t i = 0; i < n; i++) {
		long l = static_cast<long>(i);

		// Error contributes code + code + 3, bad_alloc 1, the two checks 2.
		if (one_iteration(l) != 2 * l + 3 + 1 + 2)
			wl_fail("exceptions", "an iteration computed a wrong result", __LINE__);
	}
	return 0;
}

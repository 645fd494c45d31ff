// SPDX-License-Identifier: MIT
// widgets: C++ allocations through operator new and operator new[] from member
// functions in a namespace, for tests/analyzer.sh: names demangled, and the site
// charged to the user's function (caller_frame past libstdc++'s operator new).
//
// Usage: widgets   (no arguments; no iostream, no stdio)
//
//   ns::Widget::make(int)                  new Widget (32 bytes), 120 times (@widget_new),
//                                          called from main at @make_call
//   ns::Box<double>::create(unsigned long) new double[n] for n = 10, 80 times (@box_new),
//                                          called from main at @create_call
// All are deleted.  libstdc++ mallocs its emergency exception pool at start-up (one
// more site, in libstdc++ itself), so the test looks at these two sites only:
//   ns::Widget::make(int):                  120 allocations, 3840 bytes
//   ns::Box<double>::create(unsigned long):  80 allocations, 6400 bytes
// and each stack starts with libstdc++'s operator new (new[] jumps to it), then the
// member function: the caller frame is 1.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "workload.h"

namespace ns {

struct Widget {
	long id;
	char name[24];
	static Widget *make(int id);
};

static_assert(sizeof(Widget) == 32, "Widget must be 32 bytes");

__attribute__((noinline)) Widget *Widget::make(int id)
{
	Widget *w = static_cast<Widget *>(wl_sink(new Widget())); // @widget_new

	w->id = id;
	return w;
}

template <typename T> struct Box {
	static T *create(std::size_t n);
};

template <typename T> __attribute__((noinline)) T *Box<T>::create(std::size_t n)
{
	T *v = static_cast<T *>(wl_sink(new T[n]())); // @box_new

	v[n - 1] = T(1);
	return v;
}

template struct Box<double>;

}  // namespace ns

int main()
{
	long sum = 0;

	for (int i = 0; i < 120; i++) {
		ns::Widget *w = ns::Widget::make(i); // @make_call

		sum += w->id;
		delete static_cast<ns::Widget *>(wl_sink(w));
	}
	for (int i = 0; i < 80; i++) {
		double *v = ns::Box<double>::create(10); // @create_call

		sum += static_cast<long>(v[9]);
		delete[] static_cast<double *>(wl_sink(v));
	}
	if (sum != 119 * 120 / 2 + 80)
		wl_fail("widgets", "a wrong sum", __LINE__);
	return 0;
}

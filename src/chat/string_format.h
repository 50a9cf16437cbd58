// Python's two string-formatting languages, as templates reach them: `"%s" % x` (and the format
// filter), and str.format(). Widths are bounded by max_bytes so a template cannot ask for gigabytes.
#pragma once

#include <string>
#include <string_view>

#include "chat/value.h"
#include "core/error.h"

namespace ferrum::chat {

// printf-style: %s %r %d %i %f %e %g %x %o %c %% with flags, width, precision and %(name)s keys.
// `args` is a tuple of arguments, a dict for named keys, or a single value.
Expected<std::string> percent_format(std::string_view format, const Value& args, size_t max_bytes);

// str.format(): {} {0} {name} with !s/!r conversions and [[fill]align][sign][0][width][.precision][type].
Expected<std::string> brace_format(std::string_view format, const CallArgs& args, size_t max_bytes);

}  // namespace ferrum::chat

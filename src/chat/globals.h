// The global functions every chat template can call: Jinja2's range, dict, namespace, cycler and
// joiner, plus transformers' raise_exception and strftime_now.
#pragma once

#include "chat/value.h"

namespace ferrum::chat {

Dict make_globals();

}  // namespace ferrum::chat

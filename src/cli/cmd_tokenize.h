// `ferrum tokenize` and `ferrum detokenize`. argv[0] is the command's own name ("tokenize"), the
// options and operands follow; both return the process exit status.
#pragma once

namespace ferrum::cli {

// ferrum tokenize MODEL [TEXT] [--file F] [--ids] [--no-special] [--parse-special]
int run_tokenize(int argc, char** argv);
// ferrum detokenize MODEL ID... [--skip-special] [--clean-up-spaces]
int run_detokenize(int argc, char** argv);

}  // namespace ferrum::cli

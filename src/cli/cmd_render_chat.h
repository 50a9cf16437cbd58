// `ferrum render-chat` (or `ferrum tokenize MODEL --render-chat FILE.json`): prints the prompt a chat
// template renders for a conversation. argv[0] is the command's own name; returns the exit status.
#pragma once

namespace ferrum::cli {

// ferrum render-chat [MODEL] --render-chat INPUT.json [--chat-template FILE] [--template-name NAME]
//                    [--add-generation-prompt | --no-generation-prompt] [--bos-token S] [--eos-token S]
int run_render_chat(int argc, char** argv);

}  // namespace ferrum::cli

# Fuzz target of the chat-template interpreter (lexer, parser and renderer under render limits).
file(GLOB ferrum_fuzz_chat_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/core/*.cpp
     ${PROJECT_SOURCE_DIR}/src/chat/*.cpp)
ferrum_fuzz_library(ferrum_chat_fuzzed SOURCES ${ferrum_fuzz_chat_sources}
                    DEPS Threads::Threads nlohmann_json::nlohmann_json)

ferrum_fuzz_target(fuzz-jinja ${CMAKE_CURRENT_LIST_DIR}/fuzz_jinja.cpp DEPS ferrum_chat_fuzzed)

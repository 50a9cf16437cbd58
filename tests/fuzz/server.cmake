# Fuzz targets of the server: the HTTP request parser (with multipart bodies) and the JSON-schema
# compiler with the automaton it builds.
ferrum_fuzz_library(ferrum_server_fuzzed
                    SOURCES ${PROJECT_SOURCE_DIR}/src/core/error.cpp
                            ${PROJECT_SOURCE_DIR}/src/server/http/http_request.cpp
                            ${PROJECT_SOURCE_DIR}/src/server/http/request_parser.cpp
                            ${PROJECT_SOURCE_DIR}/src/server/http/multipart.cpp
                            ${PROJECT_SOURCE_DIR}/src/grammar/grammar.cpp
                            ${PROJECT_SOURCE_DIR}/src/grammar/automaton.cpp
                            ${PROJECT_SOURCE_DIR}/src/grammar/json_grammar.cpp
                            ${PROJECT_SOURCE_DIR}/src/grammar/matcher.cpp
                    DEPS nlohmann_json::nlohmann_json)

ferrum_fuzz_target(fuzz-http-request ${CMAKE_CURRENT_LIST_DIR}/fuzz_http_request.cpp DEPS ferrum_server_fuzzed)
ferrum_fuzz_target(fuzz-json-schema ${CMAKE_CURRENT_LIST_DIR}/fuzz_json_schema.cpp DEPS ferrum_server_fuzzed)

# Fuzz targets of the formats module: the GGUF, safetensors and config.json parsers.
file(GLOB ferrum_fuzz_formats_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/core/*.cpp
     ${PROJECT_SOURCE_DIR}/src/formats/*.cpp)
ferrum_fuzz_library(ferrum_formats_fuzzed SOURCES ${ferrum_fuzz_formats_sources}
                    DEPS Threads::Threads nlohmann_json::nlohmann_json CURL::libcurl)

ferrum_fuzz_target(fuzz-gguf ${CMAKE_CURRENT_LIST_DIR}/fuzz_gguf.cpp DEPS ferrum_formats_fuzzed)
ferrum_fuzz_target(fuzz-safetensors ${CMAKE_CURRENT_LIST_DIR}/fuzz_safetensors.cpp DEPS ferrum_formats_fuzzed)
ferrum_fuzz_target(fuzz-hf-config ${CMAKE_CURRENT_LIST_DIR}/fuzz_hf_config.cpp DEPS ferrum_formats_fuzzed)

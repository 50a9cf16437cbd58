# Compiler settings shared by every ferrum target: warnings as errors, CPU tuning, sanitizers.

# Our own code is warning-free; third-party headers come in as SYSTEM includes.
set(FERRUM_WARNINGS -Wall -Wextra -Werror -Wno-missing-field-initializers)

set(FERRUM_CPU_FLAGS "")
if(FERRUM_NATIVE)
  set(FERRUM_CPU_FLAGS -march=native)
endif()

set(FERRUM_SANITIZER_FLAGS "")
if(FERRUM_SANITIZE)
  set(FERRUM_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
endif()

# ferrum_target_defaults(target): flags every ferrum library and executable gets.
function(ferrum_target_defaults target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${FERRUM_WARNINGS} ${FERRUM_CPU_FLAGS} ${FERRUM_SANITIZER_FLAGS}>)
  if(FERRUM_SANITIZE)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# ferrum_module(name dir [DEPS ...]): a static library from every .cpp in src/<dir>.
# Globbing keeps parallel work on different modules from colliding in CMake files.
function(ferrum_module name dir)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/*.cpp)
  if(NOT sources)  # a module whose code has not landed yet
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${name} INTERFACE ${ARG_DEPS})
    return()
  endif()
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  ferrum_target_defaults(${name})
endfunction()

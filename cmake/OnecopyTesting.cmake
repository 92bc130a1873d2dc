# SPDX-License-Identifier: Apache-2.0
# onecopy_add_test(NAME name SOURCES ... LIBS ... [LABELS ...]): the only place test flags are set.
include(GoogleTest)
find_package(GTest REQUIRED)

function(onecopy_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(${T_NAME} PRIVATE
    ONECOPY_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    ONECOPY_BINARY_DIR="${PROJECT_BINARY_DIR}"
    ONECOPY_TOPOLOGIES_DIR="${PROJECT_SOURCE_DIR}/tests/topologies")
  onecopy_set_warnings(${T_NAME})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  gtest_discover_tests(${T_NAME}
    DISCOVERY_TIMEOUT 60
    TEST_LIST ${T_NAME}_TESTS
    PROPERTIES TIMEOUT ${T_TIMEOUT} SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
  # Every test runs with a private store (ONECOPY_DIR is set per test by the fixtures) and
  # without any host-wide configuration leaking in. Properties whose value is a list (two
  # labels, two variables) cannot go through PROPERTIES above: CMake 3.25 passes each element
  # as an argument of its own, which shifts the pairs (a second label and the environment were
  # lost that way). So they are set by a file ctest reads after the discovered tests.
  set(properties "${CMAKE_CURRENT_BINARY_DIR}/${T_NAME}_properties.cmake")
  file(WRITE ${properties}
    "if(${T_NAME}_TESTS)\n"
    "  set_tests_properties(\${${T_NAME}_TESTS} PROPERTIES\n"
    "    ENVIRONMENT \"ONECOPY_CONF=/nonexistent/onecopy.conf;ASAN_OPTIONS=detect_leaks=1:abort_on_error=0\"\n"
    "    LABELS \"${T_LABELS}\")\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${properties})
endfunction()

# onecopy_python_test_setup(): for the suites that run Python (tests/python, tests/docs), sets in
# the caller's scope
#   ONECOPY_TEST_PYTHON    the interpreter itself, not a wrapper script (pyenv shims are bash: no
#                          need to preload sanitizers into a shell);
#   ONECOPY_TEST_PRELOAD   with ONECOPY_SANITIZE, "libasan.so:libstdc++.so" (full paths), else "".
# An uninstrumented python3 cannot dlopen an ASan-instrumented module ("ASan runtime does not
# come first"), so the processes that import onecopy._core preload the compiler's libasan, and
# libstdc++ right after it: ASan resolves the real __cxa_throw when it starts, and python3 does
# not link libstdc++, so without it the first C++ exception aborts with
# "CHECK failed: real___cxa_throw".
function(onecopy_python_test_setup)
  find_package(Python 3.9 REQUIRED COMPONENTS Interpreter)
  execute_process(COMMAND ${Python_EXECUTABLE} -c "import sys; print(sys.executable)"
                  OUTPUT_VARIABLE python OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  set(preload "")
  if(ONECOPY_SANITIZE)
    foreach(lib libasan.so libstdc++.so)
      execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=${lib}
                      OUTPUT_VARIABLE path OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(NOT IS_ABSOLUTE "${path}" OR NOT EXISTS "${path}")
        message(FATAL_ERROR "ONECOPY_SANITIZE with ONECOPY_PYTHON: cannot find ${lib} "
                            "(${CMAKE_CXX_COMPILER} -print-file-name=${lib} said '${path}')")
      endif()
      list(APPEND preload ${path})
    endforeach()
    list(JOIN preload ":" preload)
  endif()
  set(ONECOPY_TEST_PYTHON "${python}" PARENT_SCOPE)
  set(ONECOPY_TEST_PRELOAD "${preload}" PARENT_SCOPE)
endfunction()

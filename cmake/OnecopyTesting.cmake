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
  # Every test runs with a private store (ONECOPY_DIR is set per test by the fixtures) and
  # without any host-wide configuration leaking in.
  set(labels "")
  if(T_LABELS)
    set(labels LABELS "${T_LABELS}")
  endif()
  gtest_discover_tests(${T_NAME}
    DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${T_TIMEOUT} ${labels}
               SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]"
               ENVIRONMENT "ONECOPY_CONF=/nonexistent/onecopy.conf;ASAN_OPTIONS=detect_leaks=1:abort_on_error=0")
endfunction()

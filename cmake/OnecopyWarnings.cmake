# SPDX-License-Identifier: Apache-2.0
# onecopy_set_warnings(target): the project's warning flags, in one place.
function(onecopy_set_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wconversion -Wsign-conversion -Wshadow
    -Wno-missing-field-initializers>  # designated initializers of option structs omit fields on purpose
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${ONECOPY_WERROR}>>:-Werror>
    # GCC 12 reports false maybe-uninitialized inside libstdc++ (std::function, <regex>) when
    # ASan instruments it; the sanitizers themselves check for uninitialized use at run time.
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${ONECOPY_SANITIZE}>>:-Wno-maybe-uninitialized>)
endfunction()

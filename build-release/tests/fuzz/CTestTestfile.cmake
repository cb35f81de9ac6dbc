# CMake generated Testfile for 
# Source directory: /work/main/tests/fuzz
# Build directory: /work/main/build-release/tests/fuzz
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test(fuzz_segment_corpus "/work/main/build-release/tests/fuzz/fuzz_segment_replay" "/work/main/tests/fuzz/corpus/segment")
set_tests_properties(fuzz_segment_corpus PROPERTIES  TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tests/fuzz/CMakeLists.txt;44;add_test;/work/main/tests/fuzz/CMakeLists.txt;0;")
add_test(fuzz_cli_parse_corpus "/work/main/build-release/tests/fuzz/fuzz_cli_parse_replay" "/work/main/tests/fuzz/corpus/cli_parse")
set_tests_properties(fuzz_cli_parse_corpus PROPERTIES  TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tests/fuzz/CMakeLists.txt;44;add_test;/work/main/tests/fuzz/CMakeLists.txt;0;")
add_test(fuzz_segment_crashes "/work/main/build-release/tests/fuzz/fuzz_segment_replay" "/work/main/tests/fuzz/crashes/segment-timeout-f8b9eee574cdd421f1d779ce39bce5f3b4f5d936")
set_tests_properties(fuzz_segment_crashes PROPERTIES  TIMEOUT "60" _BACKTRACE_TRIPLES "/work/main/tests/fuzz/CMakeLists.txt;54;add_test;/work/main/tests/fuzz/CMakeLists.txt;0;")

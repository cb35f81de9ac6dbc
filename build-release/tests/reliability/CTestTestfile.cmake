# CMake generated Testfile for 
# Source directory: /work/main/tests/reliability
# Build directory: /work/main/build-release/tests/reliability
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test(bad_input_test "/work/main/build-release/tests/reliability/bad_input_test")
set_tests_properties(bad_input_test PROPERTIES  SKIP_RETURN_CODE "77" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/main/tests/reliability/CMakeLists.txt;12;add_test;/work/main/tests/reliability/CMakeLists.txt;0;")
add_test(limits_test "/work/main/build-release/tests/reliability/limits_test")
set_tests_properties(limits_test PROPERTIES  SKIP_RETURN_CODE "77" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/main/tests/reliability/CMakeLists.txt;12;add_test;/work/main/tests/reliability/CMakeLists.txt;0;")
add_test(full_fs_test "/work/main/build-release/tests/reliability/full_fs_test")
set_tests_properties(full_fs_test PROPERTIES  LABELS "root" SKIP_RETURN_CODE "77" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/main/tests/reliability/CMakeLists.txt;12;add_test;/work/main/tests/reliability/CMakeLists.txt;0;")
add_test(bad_input_test_heap "/work/main/build-release/tests/reliability/bad_input_test")
set_tests_properties(bad_input_test_heap PROPERTIES  ENVIRONMENT "MBX_QUEUE=heap" SKIP_RETURN_CODE "77" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/main/tests/reliability/CMakeLists.txt;19;add_test;/work/main/tests/reliability/CMakeLists.txt;0;")
add_test(limits_test_heap "/work/main/build-release/tests/reliability/limits_test")
set_tests_properties(limits_test_heap PROPERTIES  ENVIRONMENT "MBX_QUEUE=heap" SKIP_RETURN_CODE "77" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/main/tests/reliability/CMakeLists.txt;22;add_test;/work/main/tests/reliability/CMakeLists.txt;0;")

# CMake generated Testfile for 
# Source directory: /work/main/tests/chaos
# Build directory: /work/main/build-release/tests/chaos
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test(chaos "/work/main/build-release/tests/chaos/chaos" "300000")
set_tests_properties(chaos PROPERTIES  TIMEOUT "120" _BACKTRACE_TRIPLES "/work/main/tests/chaos/CMakeLists.txt;14;add_test;/work/main/tests/chaos/CMakeLists.txt;0;")
add_test(chaos_heap "/work/main/build-release/tests/chaos/chaos" "300000")
set_tests_properties(chaos_heap PROPERTIES  ENVIRONMENT "MBX_QUEUE=heap" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/main/tests/chaos/CMakeLists.txt;16;add_test;/work/main/tests/chaos/CMakeLists.txt;0;")
add_test(chaos_users "/work/main/tests/chaos/users.sh" "/work/main/build-release/tests/chaos/chaos" "200000")
set_tests_properties(chaos_users PROPERTIES  SKIP_RETURN_CODE "77" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/main/tests/chaos/CMakeLists.txt;21;add_test;/work/main/tests/chaos/CMakeLists.txt;0;")

# CMake generated Testfile for 
# Source directory: /work/main/tools
# Build directory: /work/main/build-clang/tools
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test(cli_parse "/work/main/build-clang/tools/cli_parse_test")
set_tests_properties(cli_parse PROPERTIES  _BACKTRACE_TRIPLES "/work/main/tools/CMakeLists.txt;41;add_test;/work/main/tools/CMakeLists.txt;0;")
add_test(cli "/work/main/tests/cli/run.sh" "--filter-tags" "!root" "/work/main/tests/cli")
set_tests_properties(cli PROPERTIES  ENVIRONMENT "MBX=/work/main/build-clang/tools/mbx;BATS=/usr/bin/bats" SKIP_RETURN_CODE "77" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tools/CMakeLists.txt;51;add_test;/work/main/tools/CMakeLists.txt;0;")
add_test(cli_root "/work/main/tests/cli/run.sh" "--filter-tags" "root" "/work/main/tests/cli")
set_tests_properties(cli_root PROPERTIES  ENVIRONMENT "MBX=/work/main/build-clang/tools/mbx;BATS=/usr/bin/bats" LABELS "root" SKIP_RETURN_CODE "77" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tools/CMakeLists.txt;53;add_test;/work/main/tools/CMakeLists.txt;0;")

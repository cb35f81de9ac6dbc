
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/tools/base64.c" "tools/CMakeFiles/mbx.dir/base64.c.o" "gcc" "tools/CMakeFiles/mbx.dir/base64.c.o.d"
  "/work/main/tools/cli.c" "tools/CMakeFiles/mbx.dir/cli.c.o" "gcc" "tools/CMakeFiles/mbx.dir/cli.c.o.d"
  "/work/main/tools/cmd_call.c" "tools/CMakeFiles/mbx.dir/cmd_call.c.o" "gcc" "tools/CMakeFiles/mbx.dir/cmd_call.c.o.d"
  "/work/main/tools/cmd_create.c" "tools/CMakeFiles/mbx.dir/cmd_create.c.o" "gcc" "tools/CMakeFiles/mbx.dir/cmd_create.c.o.d"
  "/work/main/tools/cmd_help.c" "tools/CMakeFiles/mbx.dir/cmd_help.c.o" "gcc" "tools/CMakeFiles/mbx.dir/cmd_help.c.o.d"
  "/work/main/tools/cmd_ls.c" "tools/CMakeFiles/mbx.dir/cmd_ls.c.o" "gcc" "tools/CMakeFiles/mbx.dir/cmd_ls.c.o.d"
  "/work/main/tools/cmd_recv.c" "tools/CMakeFiles/mbx.dir/cmd_recv.c.o" "gcc" "tools/CMakeFiles/mbx.dir/cmd_recv.c.o.d"
  "/work/main/tools/cmd_rm.c" "tools/CMakeFiles/mbx.dir/cmd_rm.c.o" "gcc" "tools/CMakeFiles/mbx.dir/cmd_rm.c.o.d"
  "/work/main/tools/cmd_send.c" "tools/CMakeFiles/mbx.dir/cmd_send.c.o" "gcc" "tools/CMakeFiles/mbx.dir/cmd_send.c.o.d"
  "/work/main/tools/cmd_serve_echo.c" "tools/CMakeFiles/mbx.dir/cmd_serve_echo.c.o" "gcc" "tools/CMakeFiles/mbx.dir/cmd_serve_echo.c.o.d"
  "/work/main/tools/cmd_stat.c" "tools/CMakeFiles/mbx.dir/cmd_stat.c.o" "gcc" "tools/CMakeFiles/mbx.dir/cmd_stat.c.o.d"
  "/work/main/tools/commands.c" "tools/CMakeFiles/mbx.dir/commands.c.o" "gcc" "tools/CMakeFiles/mbx.dir/commands.c.o.d"
  "/work/main/tools/format_msg.c" "tools/CMakeFiles/mbx.dir/format_msg.c.o" "gcc" "tools/CMakeFiles/mbx.dir/format_msg.c.o.d"
  "/work/main/tools/format_stat.c" "tools/CMakeFiles/mbx.dir/format_stat.c.o" "gcc" "tools/CMakeFiles/mbx.dir/format_stat.c.o.d"
  "/work/main/tools/json.c" "tools/CMakeFiles/mbx.dir/json.c.o" "gcc" "tools/CMakeFiles/mbx.dir/json.c.o.d"
  "/work/main/tools/main.c" "tools/CMakeFiles/mbx.dir/main.c.o" "gcc" "tools/CMakeFiles/mbx.dir/main.c.o.d"
  "/work/main/tools/recvbuf.c" "tools/CMakeFiles/mbx.dir/recvbuf.c.o" "gcc" "tools/CMakeFiles/mbx.dir/recvbuf.c.o.d"
  "/work/main/tools/signals.c" "tools/CMakeFiles/mbx.dir/signals.c.o" "gcc" "tools/CMakeFiles/mbx.dir/signals.c.o.d"
  "/work/main/tools/utf8.c" "tools/CMakeFiles/mbx.dir/utf8.c.o" "gcc" "tools/CMakeFiles/mbx.dir/utf8.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build-release/tools/CMakeFiles/mbx_cli_parse.dir/DependInfo.cmake"
  "/work/main/build-release/CMakeFiles/mbx_static.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")

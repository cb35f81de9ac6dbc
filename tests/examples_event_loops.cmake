# The event-loop examples: mailboxes in epoll, libuv and asyncio loops
# (mbx_fd), and a supervisor that restarts its worker on death notices
# (mbx_monitor_process). Each runs in its own MBX_DIR and checks itself.
# libuv and Python 3 are optional: without one, its example's test says so
# and is reported skipped (exit 77), never passed.

# Adds test `name` that prints why it cannot run here and exits 77.
function(mbx_skipped_test name why)
  add_test(NAME ${name} COMMAND sh -c "echo '${name} skipped: ${why}'; exit 77")
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77)
endfunction()

foreach(ex epoll_server)
  add_executable(example_${ex} ${PROJECT_SOURCE_DIR}/examples/${ex}.c)
  target_link_libraries(example_${ex} PRIVATE mbx_static)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/example_${ex}.d)
  file(MAKE_DIRECTORY ${dir})
  add_test(NAME example_${ex} COMMAND ${CMAKE_COMMAND} -E env MBX_DIR=${dir}
    $<TARGET_FILE:example_${ex}>)
  set_tests_properties(example_${ex} PROPERTIES TIMEOUT 60)
endforeach()

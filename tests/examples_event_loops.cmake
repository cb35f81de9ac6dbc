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

foreach(ex epoll_server supervisor)
  add_executable(example_${ex} ${PROJECT_SOURCE_DIR}/examples/${ex}.c)
  target_link_libraries(example_${ex} PRIVATE mbx_static)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/example_${ex}.d)
  file(MAKE_DIRECTORY ${dir})
  add_test(NAME example_${ex} COMMAND ${CMAKE_COMMAND} -E env MBX_DIR=${dir}
    $<TARGET_FILE:example_${ex}>)
  set_tests_properties(example_${ex} PROPERTIES TIMEOUT 60)
endforeach()

pkg_check_modules(LIBUV QUIET IMPORTED_TARGET libuv)
if(LIBUV_FOUND)
  add_executable(example_libuv_poll ${PROJECT_SOURCE_DIR}/examples/libuv_poll.c)
  target_link_libraries(example_libuv_poll PRIVATE mbx_static PkgConfig::LIBUV)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/example_libuv_poll.d)
  file(MAKE_DIRECTORY ${dir})
  add_test(NAME example_libuv_poll COMMAND ${CMAKE_COMMAND} -E env MBX_DIR=${dir}
    $<TARGET_FILE:example_libuv_poll>)
  set_tests_properties(example_libuv_poll PROPERTIES TIMEOUT 60)
else()
  message(STATUS "libuv not found: example_libuv_poll is not built (Debian: libuv1-dev)")
  mbx_skipped_test(example_libuv_poll
    "libuv was not found when building (Debian: apt-get install libuv1-dev, then reconfigure)")
endif()

# Python loads libmbx.so with ctypes: not a sanitizer build's, whose
# runtime would have to be loaded first.
find_program(MBX_PYTHON3 python3)
if(MBX_SANITIZE OR MBX_TSAN)
  mbx_skipped_test(example_asyncio_reader "the libmbx.so of a sanitizer build cannot be loaded by python3")
elseif(MBX_PYTHON3)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/example_asyncio_reader.d)
  file(MAKE_DIRECTORY ${dir})
  add_test(NAME example_asyncio_reader COMMAND ${CMAKE_COMMAND} -E env MBX_DIR=${dir}
    ${MBX_PYTHON3} ${PROJECT_SOURCE_DIR}/examples/asyncio_reader.py
    $<TARGET_FILE:mbx_shared> $<TARGET_FILE:mbx>)
  set_tests_properties(example_asyncio_reader PROPERTIES TIMEOUT 60)
else()
  mbx_skipped_test(example_asyncio_reader "python3 was not found when building")
endif()


# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/src/core/api.c" "CMakeFiles/mbx_objects.dir/src/core/api.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/core/api.c.o.d"
  "/work/main/src/core/errors.c" "CMakeFiles/mbx_objects.dir/src/core/errors.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/core/errors.c.o.d"
  "/work/main/src/core/guard.c" "CMakeFiles/mbx_objects.dir/src/core/guard.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/core/guard.c.o.d"
  "/work/main/src/core/monitor.c" "CMakeFiles/mbx_objects.dir/src/core/monitor.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/core/monitor.c.o.d"
  "/work/main/src/core/names.c" "CMakeFiles/mbx_objects.dir/src/core/names.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/core/names.c.o.d"
  "/work/main/src/core/poll.c" "CMakeFiles/mbx_objects.dir/src/core/poll.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/core/poll.c.o.d"
  "/work/main/src/core/process.c" "CMakeFiles/mbx_objects.dir/src/core/process.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/core/process.c.o.d"
  "/work/main/src/core/transports.c" "CMakeFiles/mbx_objects.dir/src/core/transports.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/core/transports.c.o.d"
  "/work/main/src/core/version.c" "CMakeFiles/mbx_objects.dir/src/core/version.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/core/version.c.o.d"
  "/work/main/src/platform/linux/bootid.c" "CMakeFiles/mbx_objects.dir/src/platform/linux/bootid.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/platform/linux/bootid.c.o.d"
  "/work/main/src/platform/linux/clock.c" "CMakeFiles/mbx_objects.dir/src/platform/linux/clock.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/platform/linux/clock.c.o.d"
  "/work/main/src/platform/linux/futex.c" "CMakeFiles/mbx_objects.dir/src/platform/linux/futex.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/platform/linux/futex.c.o.d"
  "/work/main/src/platform/linux/ident.c" "CMakeFiles/mbx_objects.dir/src/platform/linux/ident.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/platform/linux/ident.c.o.d"
  "/work/main/src/platform/linux/notify.c" "CMakeFiles/mbx_objects.dir/src/platform/linux/notify.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/platform/linux/notify.c.o.d"
  "/work/main/src/platform/linux/proc.c" "CMakeFiles/mbx_objects.dir/src/platform/linux/proc.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/platform/linux/proc.c.o.d"
  "/work/main/src/platform/linux/shmfile.c" "CMakeFiles/mbx_objects.dir/src/platform/linux/shmfile.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/platform/linux/shmfile.c.o.d"
  "/work/main/src/platform/linux/storage.c" "CMakeFiles/mbx_objects.dir/src/platform/linux/storage.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/platform/linux/storage.c.o.d"
  "/work/main/src/shm/call.c" "CMakeFiles/mbx_objects.dir/src/shm/call.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/call.c.o.d"
  "/work/main/src/shm/files.c" "CMakeFiles/mbx_objects.dir/src/shm/files.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/files.c.o.d"
  "/work/main/src/shm/heap/alloc.c" "CMakeFiles/mbx_objects.dir/src/shm/heap/alloc.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/heap/alloc.c.o.d"
  "/work/main/src/shm/heap/heap_kind.c" "CMakeFiles/mbx_objects.dir/src/shm/heap/heap_kind.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/heap/heap_kind.c.o.d"
  "/work/main/src/shm/heap/heap_loan.c" "CMakeFiles/mbx_objects.dir/src/shm/heap/heap_loan.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/heap/heap_loan.c.o.d"
  "/work/main/src/shm/heap/heap_queue.c" "CMakeFiles/mbx_objects.dir/src/shm/heap/heap_queue.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/heap/heap_queue.c.o.d"
  "/work/main/src/shm/heap/heap_rr.c" "CMakeFiles/mbx_objects.dir/src/shm/heap/heap_rr.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/heap/heap_rr.c.o.d"
  "/work/main/src/shm/heap/heap_wait.c" "CMakeFiles/mbx_objects.dir/src/shm/heap/heap_wait.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/heap/heap_wait.c.o.d"
  "/work/main/src/shm/heap/prioq.c" "CMakeFiles/mbx_objects.dir/src/shm/heap/prioq.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/heap/prioq.c.o.d"
  "/work/main/src/shm/heap/repair.c" "CMakeFiles/mbx_objects.dir/src/shm/heap/repair.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/heap/repair.c.o.d"
  "/work/main/src/shm/kinds.c" "CMakeFiles/mbx_objects.dir/src/shm/kinds.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/kinds.c.o.d"
  "/work/main/src/shm/loan.c" "CMakeFiles/mbx_objects.dir/src/shm/loan.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/loan.c.o.d"
  "/work/main/src/shm/lock.c" "CMakeFiles/mbx_objects.dir/src/shm/lock.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/lock.c.o.d"
  "/work/main/src/shm/open.c" "CMakeFiles/mbx_objects.dir/src/shm/open.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/open.c.o.d"
  "/work/main/src/shm/owner.c" "CMakeFiles/mbx_objects.dir/src/shm/owner.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/owner.c.o.d"
  "/work/main/src/shm/poll_signal.c" "CMakeFiles/mbx_objects.dir/src/shm/poll_signal.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/poll_signal.c.o.d"
  "/work/main/src/shm/poller.c" "CMakeFiles/mbx_objects.dir/src/shm/poller.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/poller.c.o.d"
  "/work/main/src/shm/procbox.c" "CMakeFiles/mbx_objects.dir/src/shm/procbox.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/procbox.c.o.d"
  "/work/main/src/shm/process.c" "CMakeFiles/mbx_objects.dir/src/shm/process.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/process.c.o.d"
  "/work/main/src/shm/reboot.c" "CMakeFiles/mbx_objects.dir/src/shm/reboot.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/reboot.c.o.d"
  "/work/main/src/shm/receipts.c" "CMakeFiles/mbx_objects.dir/src/shm/receipts.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/receipts.c.o.d"
  "/work/main/src/shm/recv_right.c" "CMakeFiles/mbx_objects.dir/src/shm/recv_right.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/recv_right.c.o.d"
  "/work/main/src/shm/ring/ring.c" "CMakeFiles/mbx_objects.dir/src/shm/ring/ring.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/ring/ring.c.o.d"
  "/work/main/src/shm/ring/ring_kind.c" "CMakeFiles/mbx_objects.dir/src/shm/ring/ring_kind.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/ring/ring_kind.c.o.d"
  "/work/main/src/shm/ring/ring_loan.c" "CMakeFiles/mbx_objects.dir/src/shm/ring/ring_loan.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/ring/ring_loan.c.o.d"
  "/work/main/src/shm/ring/ring_repair.c" "CMakeFiles/mbx_objects.dir/src/shm/ring/ring_repair.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/ring/ring_repair.c.o.d"
  "/work/main/src/shm/segment.c" "CMakeFiles/mbx_objects.dir/src/shm/segment.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/segment.c.o.d"
  "/work/main/src/shm/shlock.c" "CMakeFiles/mbx_objects.dir/src/shm/shlock.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/shlock.c.o.d"
  "/work/main/src/shm/sleepers.c" "CMakeFiles/mbx_objects.dir/src/shm/sleepers.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/sleepers.c.o.d"
  "/work/main/src/shm/stat.c" "CMakeFiles/mbx_objects.dir/src/shm/stat.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/stat.c.o.d"
  "/work/main/src/shm/stream/stream.c" "CMakeFiles/mbx_objects.dir/src/shm/stream/stream.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/stream/stream.c.o.d"
  "/work/main/src/shm/stream/stream_kind.c" "CMakeFiles/mbx_objects.dir/src/shm/stream/stream_kind.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/stream/stream_kind.c.o.d"
  "/work/main/src/shm/transport.c" "CMakeFiles/mbx_objects.dir/src/shm/transport.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/transport.c.o.d"
  "/work/main/src/shm/wait.c" "CMakeFiles/mbx_objects.dir/src/shm/wait.c.o" "gcc" "CMakeFiles/mbx_objects.dir/src/shm/wait.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")

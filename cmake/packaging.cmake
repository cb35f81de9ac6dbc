# Debian packages by CPack, one per install component (see CMakeLists.txt):
#   libmbx0     lib    the shared library libmbx.so.0
#   libmbx-dev  dev    header, static library, libmbx.so link, mbx.pc, CMake
#                      files, manual pages of sections 3 and 7
#   mbx-tools   tools  the mbx command (linked statically) and mbx(1)
# `make package` builds them from a release build installed under /usr
# (build-package/); `cpack` in any build directory does the same from it.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mbx)
set(CPACK_PACKAGE_VENDOR "the mbx authors")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "message passing through mailboxes in shared memory")
set(CPACK_PACKAGE_CONTACT "mbx maintainers <maintainers@users.noreply.github.com>")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_COMPONENTS_ALL lib dev tools)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # name_version_arch.deb
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends on libc: computed by dpkg-shlibdeps (dpkg-dev) when it is there.
find_program(MBX_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(MBX_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  # By hand: libssl always (tls://), libnats with the NATS bridge; the
  # tools link libmbx statically, so they need both too.
  set(mbx_deb_deps "libc6, libssl3")
  if(MBX_WITH_NATS)
    string(APPEND mbx_deb_deps ", libnats3.4")
  endif()
  set(CPACK_DEBIAN_LIB_PACKAGE_DEPENDS "${mbx_deb_deps}")
  set(CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS "${mbx_deb_deps}")
endif()

set(CPACK_DEBIAN_LIB_PACKAGE_NAME libmbx0)
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_LIB_DESCRIPTION "mbx message passing library\n\
 mbx passes messages between processes through named mailboxes in shared\n\
 memory, with priorities, request/reply, streams, zero-copy loans,\n\
 ownership tied to a process's life, and death notices.\n\
 .\n\
 This package holds the shared library.")
# A shlibs file for packages linking libmbx.so.0 (CPack also adds the
# ldconfig trigger then).
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY "=")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libmbx-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libmbx0 (= ${PROJECT_VERSION})")
set(CPACK_COMPONENT_DEV_DESCRIPTION "mbx message passing library (development files)\n\
 The header mbx.h, the static library, pkg-config and CMake files to build\n\
 programs with mbx, and the manual pages of its functions and model.")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME mbx-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION utils)
set(CPACK_COMPONENT_TOOLS_DESCRIPTION "mbx message passing (command-line tool)\n\
 The mbx command creates, lists, inspects and removes mailboxes, sends and\n\
 receives messages, and sends requests from the shell.")

include(CPack)

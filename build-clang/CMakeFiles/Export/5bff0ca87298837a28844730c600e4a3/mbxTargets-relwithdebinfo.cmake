#----------------------------------------------------------------
# Generated CMake target import file for configuration "RelWithDebInfo".
#----------------------------------------------------------------

# Commands may need to know the format version.
set(CMAKE_IMPORT_FILE_VERSION 1)

# Import target "mbx::mbx_static" for configuration "RelWithDebInfo"
set_property(TARGET mbx::mbx_static APPEND PROPERTY IMPORTED_CONFIGURATIONS RELWITHDEBINFO)
set_target_properties(mbx::mbx_static PROPERTIES
  IMPORTED_LINK_INTERFACE_LANGUAGES_RELWITHDEBINFO "C"
  IMPORTED_LOCATION_RELWITHDEBINFO "${_IMPORT_PREFIX}/lib/libmbx.a"
  )

list(APPEND _cmake_import_check_targets mbx::mbx_static )
list(APPEND _cmake_import_check_files_for_mbx::mbx_static "${_IMPORT_PREFIX}/lib/libmbx.a" )

# Import target "mbx::mbx_shared" for configuration "RelWithDebInfo"
set_property(TARGET mbx::mbx_shared APPEND PROPERTY IMPORTED_CONFIGURATIONS RELWITHDEBINFO)
set_target_properties(mbx::mbx_shared PROPERTIES
  IMPORTED_LOCATION_RELWITHDEBINFO "${_IMPORT_PREFIX}/lib/libmbx.so.0.1.0"
  IMPORTED_SONAME_RELWITHDEBINFO "libmbx.so.0"
  )

list(APPEND _cmake_import_check_targets mbx::mbx_shared )
list(APPEND _cmake_import_check_files_for_mbx::mbx_shared "${_IMPORT_PREFIX}/lib/libmbx.so.0.1.0" )

# Commands beyond this point should not need to know the version.
set(CMAKE_IMPORT_FILE_VERSION)

file(REMOVE_RECURSE
  "libmbx.pdb"
  "libmbx.so"
  "libmbx.so.0"
  "libmbx.so.0.1.0"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/mbx_shared.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()

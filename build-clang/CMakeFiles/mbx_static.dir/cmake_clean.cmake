file(REMOVE_RECURSE
  "libmbx.a"
  "libmbx.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/mbx_static.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()

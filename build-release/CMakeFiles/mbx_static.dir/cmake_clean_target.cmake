file(REMOVE_RECURSE
  "libmbx.a"
)

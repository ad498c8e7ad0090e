"""dedup.v1 wire types, generated from the .proto files beside this one."""

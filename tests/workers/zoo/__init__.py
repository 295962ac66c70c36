"""Models written the way people outside this project write them, for role inference and the coordinate
check (issue: roles read from use). Each is a `build(width, depth)`-style class taking the vocabulary and
context; none uses mutransfer's layers or naming."""

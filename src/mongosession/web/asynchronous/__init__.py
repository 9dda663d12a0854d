"""One request's session I/O on the asynchronous store: the source of the blocking one."""

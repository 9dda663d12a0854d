"""The asynchronous store (PyMongo's ``AsyncMongoClient``): the source of the blocking one."""

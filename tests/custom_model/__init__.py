"""A model from outside siteclass, kept in a package of its own (tests/ on the path: ``custom_model.tiny``)."""

"""Docs: a project's pages of EditorJS blocks, in a tree, with every save kept as a version."""

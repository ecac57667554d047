"""The MCP server at /mcp: the domains' tools over Streamable HTTP (see docs/mcp.md)."""

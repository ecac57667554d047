"""The MCP server at /mcp: the domains' tools over Streamable HTTP (see the developer page, developers/pages/mcp.md)."""

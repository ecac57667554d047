"""The MCP server at /mcp: the domains' tools over Streamable HTTP.

For people: the developer page (``projekt/developers/pages/mcp.md``)."""

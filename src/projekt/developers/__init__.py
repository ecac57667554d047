"""The developer portal: /developers/ pages, /llms.txt and the interactive API reference."""

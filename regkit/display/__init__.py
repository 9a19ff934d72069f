"""Display helpers: HTML reprs now; tables, charts and widgets build on them."""

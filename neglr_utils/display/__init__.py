"""What the book shows: number formatting and tables (`tables`), figures (`plots`), the
learning-rate explorer (`explorer`, `widgets`) and the notebooks' parameter checks
(`params`). May import every other layer; nothing in the package imports it."""

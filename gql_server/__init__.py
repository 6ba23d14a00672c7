"""Session analytics for virtual and hybrid events, served as GraphQL."""

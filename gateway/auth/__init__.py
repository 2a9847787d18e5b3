"""Who is asking and may they: route policy, authentication, authorisation, ownership."""

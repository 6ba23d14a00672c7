"""User, Organizer and sign-in results."""

from datetime import datetime

import asyncpg
import strawberry


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    name: str
    is_super_admin: bool
    email_verified: bool = strawberry.field(
        description=(
            "Whether the owner proved they read this address's mail (verifyEmail). An"
            " ATTENDEES_ONLY event's list counts an address only once it is verified."
        )
    )

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "User":
        return cls(
            id=strawberry.ID(str(row["id"])),
            email=row["email"],
            name=row["name"],
            is_super_admin=row["is_super_admin"],
            email_verified=row["email_verified"],
        )


@strawberry.type
class Organizer:
    id: strawberry.ID
    name: str

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "Organizer":
        return cls(id=strawberry.ID(str(row["id"])), name=row["name"])


@strawberry.type(description="Send the token as `Authorization: Bearer <token>`.")
class LoginPayload:
    token: str
    expires_at: datetime
    user: User

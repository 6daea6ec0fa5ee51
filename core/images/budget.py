"""Which of a conversation's images a turn shows: the current message's always, then earlier
ones newest first while IMAGE_CONTEXT_TOKENS lasts; the rest are left out, oldest first."""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.images import LinkedImage


@dataclass(slots=True)
class ImageSelection:
    shown: list[LinkedImage] = field(default_factory=list)
    left_out: list[LinkedImage] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(i.token_count for i in self.shown)

    def by_message(self) -> dict[int, list[LinkedImage]]:
        grouped: dict[int, list[LinkedImage]] = {}
        for image in sorted(self.shown, key=lambda i: (i.message_id, i.position)):
            grouped.setdefault(image.message_id, []).append(image)
        return grouped


def select_images(linked: list[LinkedImage], current_id: int, budget: int) -> ImageSelection:
    """``linked``: newest message first. Stops at the first earlier image that does not fit,
    so a turn never shows an older picture while hiding a newer one."""
    selection = ImageSelection()
    used = 0
    full = False
    for image in linked:
        if image.message_id == current_id:
            selection.shown.append(image)
            used += image.token_count
            continue
        if full or used + image.token_count > budget:
            full = True
            selection.left_out.append(image)
            continue
        selection.shown.append(image)
        used += image.token_count
    return selection

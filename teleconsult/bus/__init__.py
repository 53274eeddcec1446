"""Live item bus: in-process (single node) or Redis Streams (several nodes)."""

from teleconsult.bus.base import BEATS, END, NOTICE, SAMPLES, SIGNAL, STATUS, Bus, BusItem, Subscription

__all__ = ["Bus", "BusItem", "Subscription", "SAMPLES", "BEATS", "STATUS", "END", "NOTICE", "SIGNAL"]

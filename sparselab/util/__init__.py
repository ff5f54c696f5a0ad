"""Floor 0: the small helpers every layer may import (torch devices and the machine's name, atomic
file writes, the progress bar). Nothing here knows about sparse coding."""

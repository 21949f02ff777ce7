"""Screenings (排查) filed from the grid worker's phone."""

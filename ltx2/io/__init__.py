"""Reading and writing media files (video, audio, images)."""

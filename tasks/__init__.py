"""webcoach.tasks"""

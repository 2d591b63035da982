"""webcoach.hooks"""
